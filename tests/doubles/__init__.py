"""Test doubles: local servers that speak the real protocols (OpenAI, Slack Web API), and a real
MLflow server. They are test infrastructure, not features of the provider."""

#: How often the doubles' HTTP servers check for shutdown (``serve_forever``'s default is 0.5 s, which
#: every test using a double waited out in its teardown).
SHUTDOWN_POLL_S = 0.05
