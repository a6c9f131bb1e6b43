//! The IDX (MNIST) reader: `parse_images`, `parse_labels` (plain and gzip) and
//! `Dataset::from_idx`.
//!
//! The whole input goes to both parsers as is (an input starting with `1f 8b`
//! takes the gzip path, including arbitrary corrupt gzip streams). A parsed
//! plain file must re-encode to the same bytes, and gzip-compressing a plain
//! input must not change what the parsers return. Then the input is split in
//! two at a position given by its first two bytes, the halves parsed as
//! images and labels, and a successful pair converted with
//! `Dataset::from_idx`.
#![no_main]

use std::io::Write;

use fl_ml::Dataset;
use fl_ml::idx::{encode_images, encode_labels, parse_images, parse_labels};
use flate2::Compression;
use flate2::write::GzEncoder;
use libfuzzer_sys::fuzz_target;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("writing to a Vec");
    e.finish().expect("writing to a Vec")
}

/// Labels for `count` images, if that is a reasonable amount for the harness
/// to allocate (a parsed file may declare 2^32 − 1 images of 0 pixels).
fn labels_for(count: usize) -> Option<Vec<u8>> {
    (count <= 1 << 16).then(|| (0..count).map(|i| (i % 10) as u8).collect())
}

fn dataset(images: &fl_ml::Images, labels: &[u8]) {
    match Dataset::from_idx(images, labels) {
        Ok(ds) => {
            assert_eq!(ds.len(), images.count);
            assert_eq!(ds.num_features(), images.pixels_per_image());
            assert!(ds.x.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        Err(_) => assert_ne!(images.count, labels.len()),
    }
}

fuzz_target!(|data: &[u8]| {
    let plain = !data.starts_with(&GZIP_MAGIC);

    let images = parse_images(data);
    let labels = parse_labels(data);
    if plain {
        // Same results through the gzip path.
        let gz = gzip(data);
        assert_eq!(parse_images(&gz).ok(), images.as_ref().ok().cloned());
        assert_eq!(parse_labels(&gz).ok(), labels.as_ref().ok().cloned());
    }
    if let Ok(im) = &images {
        assert_eq!(im.pixels.len(), im.count * im.rows * im.cols);
        if plain {
            assert_eq!(encode_images(im).expect("parsed images encode"), data);
        }
        if let Some(l) = labels_for(im.count) {
            dataset(im, &l);
        }
    }
    if let Ok(l) = &labels
        && plain
    {
        assert_eq!(encode_labels(l).expect("parsed labels encode"), data);
    }

    // Images and labels from two halves of the input.
    let [s0, s1, rest @ ..] = data else {
        return;
    };
    let at = usize::from(u16::from_le_bytes([*s0, *s1])).min(rest.len());
    let (im, lb) = rest.split_at(at);
    if let (Ok(im), Ok(lb)) = (parse_images(im), parse_labels(lb)) {
        dataset(&im, &lb);
    }
});
