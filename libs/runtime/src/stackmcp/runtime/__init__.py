"""stackmcp runtime helpers shared by every service.

Modules: ``config`` (env → frozen Structs), ``errors`` (the exception tree), ``logging``
(structured, trace-aware, secret-masking), ``telemetry`` (OpenTelemetry and W3C context over
NATS), ``natsx`` (connect, request, endpoints), ``redisx`` (Redis connect), ``lifecycle``
(signals → graceful stop), ``redaction`` (masking secrets in text).
"""

__all__: list[str] = []
