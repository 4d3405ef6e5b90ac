"""Hardware drivers: cameras (OpenCV) and barrier controllers (Modbus RTU, simulated).

Each driver is one file holding its ``type`` key, its typed config and its implementation; only this
package (and ``models``) imports hardware libraries.
"""
