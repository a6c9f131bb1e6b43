//! Reader (and writer) for the IDX format used by MNIST.
//!
//! Layout: a big-endian `u32` magic — `0x00000803` for an unsigned-byte 3-D tensor
//! (images: count × rows × cols) or `0x00000801` for a 1-D one (labels) — then one
//! big-endian `u32` per dimension, then the payload, row-major, one byte per entry.
//! Input that starts with the gzip magic (`1f 8b`) is decompressed first, capped at
//! [`MAX_DECOMPRESSED_BYTES`].
//!
//! Parsing is strict and bounds-checked: a truncated payload, surplus trailing bytes,
//! a wrong magic, a declared size that overflows or exceeds the cap all give an
//! [`MlError`]; nothing here panics on malformed input.

use std::borrow::Cow;
use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::MlError;

/// Magic of an IDX file holding unsigned-byte images (3 dimensions).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic of an IDX file holding unsigned-byte labels (1 dimension).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Cap on decompressed size and on any declared payload size (512 MiB; full MNIST
/// training images are 47 MB).
pub const MAX_DECOMPRESSED_BYTES: usize = 512 << 20;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A stack of greyscale images, as stored in an IDX file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Images {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count * rows * cols` bytes, image-major then row-major.
    pub pixels: Vec<u8>,
}

impl Images {
    /// Pixels per image (`rows * cols`).
    pub fn pixels_per_image(&self) -> usize {
        self.rows.saturating_mul(self.cols)
    }

    /// The pixels of image `i`, or `None` if out of range.
    pub fn image(&self, i: usize) -> Option<&[u8]> {
        let n = self.pixels_per_image();
        let start = i.checked_mul(n)?;
        self.pixels.get(start..start.checked_add(n)?)
    }
}

/// If `bytes` starts with the gzip magic, decompress it (at most
/// [`MAX_DECOMPRESSED_BYTES`]); otherwise borrow it unchanged.
pub fn maybe_gunzip(bytes: &[u8]) -> Result<Cow<'_, [u8]>, MlError> {
    if bytes.starts_with(&GZIP_MAGIC) {
        gunzip_capped(bytes, MAX_DECOMPRESSED_BYTES).map(Cow::Owned)
    } else {
        Ok(Cow::Borrowed(bytes))
    }
}

fn gunzip_capped(bytes: &[u8], limit: usize) -> Result<Vec<u8>, MlError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(bytes)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(MlError::Gzip)?;
    if out.len() > limit {
        return Err(MlError::TooLarge { limit });
    }
    Ok(out)
}

/// Parse an IDX image file (`0x00000803`), gzipped or not.
pub fn parse_images(bytes: &[u8]) -> Result<Images, MlError> {
    let data = maybe_gunzip(bytes)?;
    let mut r = Reader::new(&data);
    r.magic(IMAGES_MAGIC)?;
    let count = r.dim()?;
    let rows = r.dim()?;
    let cols = r.dim()?;
    let size = payload_size(&[count, rows, cols])?;
    let pixels = r.take(size)?.to_vec();
    r.finish()?;
    Ok(Images {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parse an IDX label file (`0x00000801`), gzipped or not.
pub fn parse_labels(bytes: &[u8]) -> Result<Vec<u8>, MlError> {
    let data = maybe_gunzip(bytes)?;
    let mut r = Reader::new(&data);
    r.magic(LABELS_MAGIC)?;
    let count = r.dim()?;
    let size = payload_size(&[count])?;
    let labels = r.take(size)?.to_vec();
    r.finish()?;
    Ok(labels)
}

/// Encode images as an (uncompressed) IDX file.
pub fn encode_images(images: &Images) -> Result<Vec<u8>, MlError> {
    let expected = payload_size(&[images.count, images.rows, images.cols])?;
    if images.pixels.len() != expected {
        return Err(MlError::InvalidData(format!(
            "{} pixels for {}×{}×{} images",
            images.pixels.len(),
            images.count,
            images.rows,
            images.cols
        )));
    }
    let mut out = Vec::with_capacity(16 + expected);
    out.extend_from_slice(&IMAGES_MAGIC.to_be_bytes());
    for d in [images.count, images.rows, images.cols] {
        out.extend_from_slice(&dim_to_u32(d)?.to_be_bytes());
    }
    out.extend_from_slice(&images.pixels);
    Ok(out)
}

/// Encode labels as an (uncompressed) IDX file.
pub fn encode_labels(labels: &[u8]) -> Result<Vec<u8>, MlError> {
    let mut out = Vec::with_capacity(8 + labels.len());
    out.extend_from_slice(&LABELS_MAGIC.to_be_bytes());
    out.extend_from_slice(&dim_to_u32(labels.len())?.to_be_bytes());
    out.extend_from_slice(labels);
    Ok(out)
}

fn dim_to_u32(d: usize) -> Result<u32, MlError> {
    u32::try_from(d).map_err(|_| MlError::InvalidData(format!("dimension {d} exceeds u32")))
}

fn payload_size(dims: &[usize]) -> Result<usize, MlError> {
    let limit = MAX_DECOMPRESSED_BYTES;
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&s| s <= limit)
        .ok_or(MlError::TooLarge { limit })
}

/// Bounds-checked big-endian cursor.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], MlError> {
        let end = self.pos.checked_add(n).ok_or(MlError::TooLarge {
            limit: MAX_DECOMPRESSED_BYTES,
        })?;
        let s = self.buf.get(self.pos..end).ok_or(MlError::Truncated {
            needed: end,
            available: self.buf.len(),
        })?;
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, MlError> {
        let mut b = [0u8; 4];
        b.copy_from_slice(self.take(4)?);
        Ok(u32::from_be_bytes(b))
    }

    fn magic(&mut self, expected: u32) -> Result<(), MlError> {
        let found = self.u32()?;
        if found == expected {
            Ok(())
        } else {
            Err(MlError::BadMagic { expected, found })
        }
    }

    fn dim(&mut self) -> Result<usize, MlError> {
        let d = self.u32()?;
        usize::try_from(d).map_err(|_| MlError::TooLarge {
            limit: MAX_DECOMPRESSED_BYTES,
        })
    }

    fn finish(self) -> Result<(), MlError> {
        match self.buf.len() - self.pos.min(self.buf.len()) {
            0 => Ok(()),
            extra => Err(MlError::TrailingBytes { extra }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn tiny_images() -> Images {
        Images {
            count: 3,
            rows: 2,
            cols: 2,
            pixels: (0u8..12).map(|v| v * 20).collect(),
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn hand_built_file_parses() {
        let bytes = [
            0, 0, 8, 3, // magic
            0, 0, 0, 2, // count
            0, 0, 0, 1, // rows
            0, 0, 0, 3, // cols
            1, 2, 3, 4, 5, 255,
        ];
        let im = parse_images(&bytes).unwrap();
        assert_eq!((im.count, im.rows, im.cols), (2, 1, 3));
        assert_eq!(im.pixels, vec![1, 2, 3, 4, 5, 255]);
        assert_eq!(im.image(1), Some(&[4u8, 5, 255][..]));
        assert_eq!(im.image(2), None);
        let labels = parse_labels(&[0, 0, 8, 1, 0, 0, 0, 3, 7, 0, 9]).unwrap();
        assert_eq!(labels, vec![7, 0, 9]);
    }

    #[test]
    fn round_trip_plain_and_gzip() {
        let im = tiny_images();
        let enc = encode_images(&im).unwrap();
        assert_eq!(parse_images(&enc).unwrap(), im);
        assert_eq!(parse_images(&gzip(&enc)).unwrap(), im);
        let labels = vec![3u8, 1, 4, 1, 5];
        let enc = encode_labels(&labels).unwrap();
        assert_eq!(parse_labels(&enc).unwrap(), labels);
        assert_eq!(parse_labels(&gzip(&enc)).unwrap(), labels);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let enc = encode_images(&tiny_images()).unwrap();
        for len in 0..enc.len() {
            assert!(parse_images(&enc[..len]).is_err(), "len {len}");
        }
        let gz = gzip(&enc);
        for len in 0..gz.len() {
            assert!(parse_images(&gz[..len]).is_err(), "gz len {len}");
        }
        let enc = encode_labels(&[1, 2, 3]).unwrap();
        for len in 0..enc.len() {
            assert!(parse_labels(&enc[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn trailing_bytes_and_wrong_magic_are_errors() {
        let mut enc = encode_images(&tiny_images()).unwrap();
        enc.push(0);
        assert!(matches!(
            parse_images(&enc),
            Err(MlError::TrailingBytes { extra: 1 })
        ));
        let labels = encode_labels(&[1, 2]).unwrap();
        assert!(matches!(
            parse_images(&labels),
            Err(MlError::BadMagic { .. })
        ));
        let images = encode_images(&tiny_images()).unwrap();
        assert!(matches!(
            parse_labels(&images),
            Err(MlError::BadMagic { .. })
        ));
    }

    #[test]
    fn oversized_declaration_is_rejected_without_allocating() {
        // 65535^3 bytes would overflow the cap; must not try to allocate it.
        let bytes = [
            0, 0, 8, 3, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0,
        ];
        assert!(matches!(
            parse_images(&bytes),
            Err(MlError::TooLarge { .. })
        ));
        let bytes = [
            0, 0, 8, 3, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        ];
        assert!(parse_images(&bytes).is_err());
        // Declared 4 billion labels, 1 present.
        assert!(parse_labels(&[0, 0, 8, 1, 255, 255, 255, 255, 1]).is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut state = 0x1234_5678_9abc_def0u64;
        for len in [0usize, 1, 3, 4, 7, 8, 16, 17, 100, 1000] {
            for _ in 0..50 {
                let bytes: Vec<u8> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state >> 24) as u8
                    })
                    .collect();
                let _ = parse_images(&bytes);
                let _ = parse_labels(&bytes);
                let mut gz = vec![0x1f, 0x8b];
                gz.extend_from_slice(&bytes);
                assert!(parse_images(&gz).is_err());
                assert!(parse_labels(&gz).is_err());
            }
        }
    }

    #[test]
    fn gzip_bomb_is_capped() {
        // 4 MiB of zeros compress to a few KB; decompression must stop at the cap.
        let gz = gzip(&vec![0u8; 4 << 20]);
        assert!(gz.len() < 64 << 10);
        assert!(matches!(
            gunzip_capped(&gz, 1 << 20),
            Err(MlError::TooLarge { limit }) if limit == 1 << 20
        ));
        assert_eq!(gunzip_capped(&gz, 4 << 20).unwrap().len(), 4 << 20);
    }
}
