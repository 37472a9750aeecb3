"""Phone calls: Twilio Voice webhooks driving the IVR, callers waiting in line, connected to
the operator who takes the call."""
