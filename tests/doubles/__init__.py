"""Test doubles: local servers that speak the real protocols (OpenAI, Slack Web API), and a real
MLflow server. They are test infrastructure, not features of the provider."""
