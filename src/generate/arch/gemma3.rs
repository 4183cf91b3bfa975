//! `gemma3` (placeholder until wired).
use candle_core::quantized::gguf_file::Content;

use super::Common;
use crate::error::{Error, Result};
use crate::generate::{Generator, LoadOptions};

pub(crate) fn load(_b: &[u8], _c: Content, _m: Common, _o: &LoadOptions) -> Result<Box<dyn Generator>> {
    Err(Error::UnsupportedArchitecture("gemma3".into()))
}
