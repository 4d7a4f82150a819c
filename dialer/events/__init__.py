"""Events out and commands in: the bus interface and its in-process implementation."""

from dialer.events.bus import EventBus, InProcessBus, Message, topic_matches

__all__ = ["EventBus", "InProcessBus", "Message", "topic_matches"]
