# Contact Gateway image: non-root, health-checked, exec-form entrypoint.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY channels ./channels
COPY ivr ./ivr
COPY routing ./routing
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 --user-group gateway
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY config ./config
RUN mkdir -p /app/var && chown gateway:gateway /app/var
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    CG_HTTP__HOST=0.0.0.0 \
    CG_LOG_FORMAT=json
EXPOSE 8080 2525
USER gateway
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/livez', timeout=2).status == 200 else 1)"]
ENTRYPOINT ["contact-gateway"]
CMD ["--config", "/app/config/demo.yaml", "run"]
