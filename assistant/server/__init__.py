"""The HTTP surface: the JSON API, the OpenAI-compatible `/v1`, the widget's files, and
the app that mounts the chat (`assistant serve`)."""
