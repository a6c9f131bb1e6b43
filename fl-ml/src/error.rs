//! Error type of the `ml` module.

use std::path::PathBuf;

use crate::model::ModelKind;

/// Everything that can go wrong while loading data, partitioning it, or training.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlError {
    /// A file could not be read.
    // The message includes the OS error itself, so it is not also a
    // `source()`: an error chain printed with `{:#}` shows it once.
    #[error("cannot read {}: {error}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// The input looked like gzip but did not decompress.
    #[error("gzip decompression failed: {0}")]
    Gzip(std::io::Error),
    /// Decompressed data (or a declared IDX payload) exceeds the size cap.
    #[error("data exceeds the {limit}-byte size limit")]
    TooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// IDX magic number is not the expected one.
    #[error("IDX: bad magic number {found:#010x}, expected {expected:#010x}")]
    BadMagic {
        /// Expected magic.
        expected: u32,
        /// Magic found in the file.
        found: u32,
    },
    /// IDX file ends before the declared payload.
    #[error("IDX: truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Bytes needed to read the next item.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// IDX file has bytes after the declared payload.
    #[error("IDX: {extra} unexpected trailing bytes after the payload")]
    TrailingBytes {
        /// Number of surplus bytes.
        extra: usize,
    },
    /// Inconsistent or unusable data (shapes, counts, image size).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// Parameter vector length does not match the model.
    #[error("parameter vector has {found} entries, model {kind} needs {expected}")]
    ParamLen {
        /// The model kind.
        kind: ModelKind,
        /// `kind.num_params()`.
        expected: usize,
        /// Length of the vector passed in.
        found: usize,
    },
    /// Dataset feature dimension does not match the model input.
    #[error("dataset has {found} features per example, models take {expected}")]
    FeatureDim {
        /// Model input dimension.
        expected: usize,
        /// Dataset column count.
        found: usize,
    },
    /// A label is not a valid class.
    #[error("label {label} out of range (there are {classes} classes)")]
    InvalidLabel {
        /// The bad label.
        label: u8,
        /// Number of classes.
        classes: usize,
    },
    /// An operation that needs examples got none.
    #[error("dataset is empty")]
    EmptyDataset,
    /// A caller-supplied argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A textual option (model kind, partition) did not parse.
    #[error("cannot parse {what} from {input:?}: expected {expected}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The offending input.
        input: String,
        /// Accepted syntax.
        expected: &'static str,
    },
    /// Training produced NaN/inf parameters (learning rate too high).
    #[error("training diverged (non-finite parameters); lower the learning rate")]
    NonFinite,
}
