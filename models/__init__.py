"""Recognition models: adapters that turn images into observations (face templates, plate text, QR
payloads), and the manifest of the weights they load. Only this package and ``drivers`` import ML
or image libraries.
"""
