/* The demo page's "Chat with support" button opens the widget (inline scripts are blocked by CSP). */
document.getElementById("open-chat").addEventListener("click", () => {
  if (window.ContactGatewayChat) window.ContactGatewayChat.open();
});
