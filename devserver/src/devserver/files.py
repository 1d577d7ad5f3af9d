"""The bytes of the simulated world's files: the samples users send, a real PNG, image sizes read from
file headers, and the file_id prefix, folder and MIME type Telegram gives each kind of file."""

from __future__ import annotations

import mimetypes
import struct
import zlib

from devserver.records import StoredFile
from devserver.spec import JsonDict

_FILE_KINDS = {  # kind: (file_id prefix, folder of file_path, default extension, default MIME type)
    "photo": ("AgACAgIAAxkBAAI", "photos", ".jpg", "image/jpeg"),
    "document": ("BQACAgIAAxkBAAI", "documents", ".bin", "application/octet-stream"),
    "sticker": ("CAACAgIAAxkBAAI", "stickers", ".webp", "image/webp"),
    "voice": ("AwACAgIAAxkBAAI", "voice", ".oga", "audio/ogg"),
    "video": ("BAACAgIAAxkBAAI", "videos", ".mp4", "video/mp4"),
}

_SAMPLE_FILES: dict[str, tuple[bytes, str]] = {
    "sticker": (b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(24), "sticker.webp"),
    "voice": (b"OggS\x00\x02" + bytes(58), "voice.oga"),
    "video": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(40), "clip.mp4"),
    "document": (b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "letter.pdf"),
}


def _file_type(
    data: bytes, kind: str, filename: str | None, mime_type: str | None
) -> tuple[str, str, str, str]:
    """file_id prefix, folder, extension and MIME type of a stored file.

    PTB uploads raw bytes as "application.octet-stream" with no useful type, so photos are recognised by
    their bytes, and other files by a file name extension only when it is a known one.
    """
    prefix, folder, extension, default_mime = _FILE_KINDS[kind]
    if kind == "photo":
        if data.startswith(b"\x89PNG"):
            return prefix, folder, ".png", "image/png"
        return prefix, folder, ".jpg", "image/jpeg"
    guessed = mimetypes.guess_type(filename or "")[0]
    if guessed and filename:
        extension = "." + filename.rsplit(".", 1)[1].lower()
    if not mime_type or mime_type == "application/octet-stream":
        mime_type = guessed or default_mime
    return prefix, folder, extension, mime_type


def _photo_size(stored: StoredFile, width: int, height: int) -> JsonDict:
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": len(stored.data),
        "width": width,
        "height": height,
    }


def tiny_png(width: int = 4, height: int = 3, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A valid one-colour PNG of the given size."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    rows = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG or JPEG, read from its header; None for anything else."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(width), int(height)
        i += 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    return None
