// What the server knows about one firmware file, derived from its bytes alone (see protocol.md §4 and §8).

export type ChipFamily = 'esp8266' | 'esp32';

/**
 * The largest file the server reads as an image, in the catalog and from build folders: no image an ESP32 can run
 * or flash comes close (32 MB is the largest flash an ESP32 chip addresses), and nothing larger is read at all.
 */
export const MAX_IMAGE_BYTES = 32 << 20;

/** The on-disk format of a filesystem image (PlatformIO `buildfs`, mklittlefs/mkspiffs/mkfatfs). */
export type FilesystemType = 'littlefs' | 'spiffs' | 'fatfs';

/**
 * `app`: an OTA application image (the only kind ever offered to a device as `bin`).
 * `filesystem`: a LittleFS/SPIFFS/FAT image, listed as a plain `file` and served only to a filesystem update
 * (`x-*-mode: spiffs`). Everything else is listed as a plain `file` and never served.
 */
export type ImageKind =
  'app' | 'bootloader' | 'partition-table' | 'ota-data' | 'merged' | 'filesystem' | 'not-an-image';

export interface AppDescriptor {
  /** esp_app_desc_t.version, e.g. "1.2.3" or a git describe. */
  version: string;
  projectName: string;
  /** Build time and date as compiled in (`__TIME__`, `__DATE__`). */
  time: string;
  date: string;
  idfVersion: string;
}

export interface ImageInfo {
  kind: ImageKind;
  /** Chip family the image runs on (for gzip images: of the compressed image). */
  family?: ChipFamily;
  /** 'esp8266', 'esp32', 'esp32s2', 'esp32s3', 'esp32c3', ... */
  chip?: string;
  /** ESP32 family header chip_id (u16 at offset 12). */
  chipId?: number;
  /** true for a gzip-compressed ESP8266 image (`1F 8B`). */
  compressed: boolean;
  /** Flash size the header declares, in bytes (table of the detected family). */
  flashSize?: number;
  /** SPI flash mode name from header byte 2: 'QIO' | 'QOUT' | 'DIO' | 'DOUT' | ... */
  flashMode?: string;
  /**
   * true when the structure proves the file is whole: segments walk to the file end, the checksum byte matches
   * (and the appended SHA-256 on ESP32), or the ESP8266 Arduino length word and CRC match, or the gzip trailer is there.
   */
  complete: boolean;
  /** ESP32 family application descriptor, when present. */
  app?: AppDescriptor;
  /** ESP32: the appended SHA-256 (lowercase hex); equals what the device reports as x-ESP32-sketch-sha256. */
  appendedSha256?: string;
  /**
   * ESP8266 only: true when a signature block (`signature ‖ u32 LE length`, esp8266/Arduino tools/signing.py) follows
   * the image or gzip stream. Such a file only installs on a device whose sketch set up a signature verifier.
   */
  signed?: boolean;
  /** For `filesystem` images whose format the content shows. */
  filesystem?: FilesystemType;
  /** A short reason a person can act on when the image is not a complete app, e.g. "bootloader image". */
  reason?: string;
}
