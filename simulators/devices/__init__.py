"""Device simulators speaking the real wire protocols (``guanjia sim ...``): line scanner,
USB HID scanner (UHID), scale (MT-SICS, Toledo), label and receipt printers (ZPL with PNG
previews, ESC/POS), LLRP RFID reader."""
