"""The dialer tests' folder: its being a conftest folder puts `tests/dialer` on the path,
so tests in subfolders (tests/dialer/telephony, ...) import `dial_support` too."""
