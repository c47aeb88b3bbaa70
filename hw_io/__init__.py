"""Hardware I/O for the kiosk: the devices around the camera pipeline (GSM modem, buzzer, door, ...)."""
