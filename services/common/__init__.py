"""Runtime shared by the stage services: settings, at-least-once delivery, topics, the app factory."""
