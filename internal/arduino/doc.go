// Package arduino owns the file formats and board facts of Arduino's SAMD
// boards (the MKR family): the LZSS stream their second-stage loaders
// decode, the .ota container around it, and the board profiles that say
// where a sketch must sit in flash for each loader.
//
// The facts are restated from the public code of ArduinoCore-samd
// (libraries SDU, SSU, SNU and their boot stubs), ArduinoIoTCloud
// (extras/tools lzss.c, lzss.py, bin2ota.py; src/ota) and the MKR GSM 1400
// variant's linker script; Ferry's summary of them is the device reference
// (sections 1 and 2). None of their code is used here.
//
// The package has no I/O and imports nothing of Ferry: the core calls it
// when a product with a board profile publishes a release.
package arduino
