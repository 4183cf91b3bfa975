//! Mean pooling weighted by the attention mask, and L2 normalisation.
//!
//! OWNER: embed helper (add the candle tensor pooling here).

/// Scale `v` to unit L2 norm in place (a zero vector stays zero).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|x| *x /= n);
    }
}
