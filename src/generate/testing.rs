//! Tiny GGUF files for tests (the crate's own, `tests/`, and the fuzz harness), so the
//! generator's loaders are exercised without real weights. Not part of the supported API.

use std::io::Cursor;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// One tensor of a test GGUF: name, shape and storage type. Its values are a small
/// deterministic ramp in [-0.2, 0.2], different per tensor.
pub struct TestTensor<'a> {
    pub name: &'a str,
    pub shape: Vec<usize>,
    pub dtype: GgmlDType,
}

impl<'a> TestTensor<'a> {
    pub fn new(name: &'a str, shape: &[usize], dtype: GgmlDType) -> Self {
        TestTensor { name, shape: shape.to_vec(), dtype }
    }

    /// An F32 tensor.
    pub fn f32(name: &'a str, shape: &[usize]) -> Self {
        Self::new(name, shape, GgmlDType::F32)
    }
}

/// Write a GGUF (version 3, candle's writer) with `metadata` and `tensors`.
pub fn write_gguf(metadata: &[(&str, Value)], tensors: &[TestTensor<'_>]) -> Result<Vec<u8>> {
    let err = |e: candle_core::Error| Error::model("test gguf", e);
    let qs = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let count: usize = t.shape.iter().product();
            let vals: Vec<f32> = (0..count).map(|j| (((j * 7 + i * 13) % 17) as f32 - 8.0) / 40.0).collect();
            let v = Tensor::from_vec(vals, t.shape.as_slice(), &Device::Cpu).map_err(err)?;
            Ok((t.name, QTensor::quantize(&v, t.dtype).map_err(err)?))
        })
        .collect::<Result<Vec<_>>>()?;
    let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let ts: Vec<(&str, &QTensor)> = qs.iter().map(|(k, v)| (*k, v)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md, &ts).map_err(err)?;
    Ok(out.into_inner())
}
