//! Opening a Hugging Face checkpoint directory as a `VarBuilder`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use candle_core::safetensors::Load;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::de::DeserializeOwned;

/// What can go wrong opening a checkpoint's weights.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file could not be parsed.
    #[error("cannot parse {path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The directory has no weight file.
    #[error(
        "no weights in {0}: expected model.safetensors, model.safetensors.index.json or \
         pytorch_model.bin"
    )]
    MissingWeights(PathBuf),
    /// A weight file could not be read, or lacks a tensor, or has one of the wrong shape.
    #[error("cannot load weights from {path}: {source}")]
    Weights {
        /// The weight file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: candle_core::Error,
    },
}

/// How a model's checkpoint departs from a plain load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// Safetensors entries whose name ends with one of these are left out unread: buffers
    /// candle cannot hold (Bark's boolean `.attn.bias` causal masks) that the model rebuilds.
    pub skip_suffixes: &'a [&'a str],
}

/// Opens the weights of the checkpoint in `dir`, in f32 on `device`; also returns the weight
/// file (the index for sharded checkpoints), for messages.
pub fn var_builder(
    dir: &Path,
    device: &Device,
    options: &LoadOptions<'_>,
) -> Result<(VarBuilder<'static>, PathBuf), CheckpointError> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        let tensors = load_safetensors(&single, options)?;
        return Ok((
            VarBuilder::from_tensors(tensors, DType::F32, device),
            single,
        ));
    }
    let index = dir.join("model.safetensors.index.json");
    if index.exists() {
        let text = std::fs::read_to_string(&index).map_err(|source| CheckpointError::Io {
            path: index.clone(),
            source,
        })?;
        let parsed: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| CheckpointError::Json {
                path: index.clone(),
                source,
            })?;
        let files: BTreeSet<&str> = parsed
            .get("weight_map")
            .and_then(serde_json::Value::as_object)
            .map(|m| m.values().filter_map(serde_json::Value::as_str).collect())
            .unwrap_or_default();
        if files.is_empty() {
            return Err(CheckpointError::MissingWeights(dir.to_owned()));
        }
        let mut tensors = HashMap::new();
        for file in files {
            tensors.extend(load_safetensors(&dir.join(file), options)?);
        }
        return Ok((VarBuilder::from_tensors(tensors, DType::F32, device), index));
    }
    let bin = dir.join("pytorch_model.bin");
    if bin.exists() {
        // Lazy: only the tensors the model asks for are unpickled, so buffers it does not use
        // need no skipping here.
        let vb = VarBuilder::from_pth(&bin, DType::F32, device).map_err(|source| {
            CheckpointError::Weights {
                path: bin.clone(),
                source,
            }
        })?;
        return Ok((vb, bin));
    }
    Err(CheckpointError::MissingWeights(dir.to_owned()))
}

/// Reads a safetensors file onto the CPU (read, not mmap: the workspace forbids unsafe code);
/// the VarBuilder moves each tensor to the device as it is taken.
fn load_safetensors(
    path: &Path,
    options: &LoadOptions<'_>,
) -> Result<HashMap<String, Tensor>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    let weights = |source| CheckpointError::Weights {
        path: path.to_owned(),
        source,
    };
    let file = candle_core::safetensors::SliceSafetensors::new(&bytes).map_err(weights)?;
    let mut tensors = HashMap::new();
    for (name, view) in file.tensors() {
        if options.skip_suffixes.iter().any(|s| name.ends_with(s)) {
            continue;
        }
        let tensor = view.load(&Device::Cpu).map_err(weights)?;
        tensors.insert(name, tensor);
    }
    Ok(tensors)
}

/// Reads a transformers JSON config (`config.json`, `generation_config.json`, a preprocessor
/// config) into `T`. transformers writes unset fields as null (`"temperature": null`); they mean
/// the default, so nulls are dropped before `T`'s serde defaults apply.
pub fn read_config<T: DeserializeOwned>(path: &Path) -> Result<T, CheckpointError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    })?;
    let json_err = |source| CheckpointError::Json {
        path: path.to_owned(),
        source,
    };
    let mut value: serde_json::Value = serde_json::from_str(&text).map_err(json_err)?;
    drop_nulls(&mut value);
    serde_json::from_value(value).map_err(json_err)
}

fn drop_nulls(value: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(drop_nulls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn save(path: &Path, tensors: &[(&str, Tensor)]) {
        let map: HashMap<String, Tensor> = tensors
            .iter()
            .map(|(n, t)| ((*n).to_owned(), t.clone()))
            .collect();
        candle_core::safetensors::save(&map, path).expect("save");
    }

    #[test]
    fn sharded_checkpoints_load_every_shard_and_skip_what_is_asked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Tensor::new(&[1f32, 2., 3.], &Device::Cpu).expect("a");
        let b = Tensor::new(&[[4f32], [5.]], &Device::Cpu).expect("b");
        let mask = Tensor::new(&[1u8, 0], &Device::Cpu).expect("mask");
        save(&dir.path().join("part-1.safetensors"), &[("enc.a", a)]);
        save(
            &dir.path().join("part-2.safetensors"),
            &[("dec.b", b), ("dec.attn.bias", mask)],
        );
        let index = r#"{"weight_map": {"enc.a": "part-1.safetensors",
            "dec.b": "part-2.safetensors", "dec.attn.bias": "part-2.safetensors"}}"#;
        std::fs::write(dir.path().join("model.safetensors.index.json"), index).expect("index");

        let skip = LoadOptions {
            skip_suffixes: &[".attn.bias"],
        };
        let (vb, path) = var_builder(dir.path(), &Device::Cpu, &skip).expect("sharded");
        assert!(path.ends_with("model.safetensors.index.json"));
        let a = vb.get(3, "enc.a").expect("enc.a");
        assert_eq!(a.to_vec1::<f32>().expect("f32"), [1., 2., 3.]);
        let b = vb.get((2, 1), "dec.b").expect("dec.b");
        assert_eq!(b.to_vec2::<f32>().expect("f32"), [[4.], [5.]]);
        assert!(!vb.contains_tensor("dec.attn.bias"));

        let empty = tempfile::tempdir().expect("tempdir");
        let err = var_builder(empty.path(), &Device::Cpu, &LoadOptions::default())
            .err()
            .expect("no weights");
        assert!(matches!(err, CheckpointError::MissingWeights(_)), "{err}");
    }
}
