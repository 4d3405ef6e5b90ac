"""What travels between boxes: the MQTT link, peers, replay, the registry replica and publisher, signed commands."""
