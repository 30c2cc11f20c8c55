//! Prints the normalized sentences of each argument (for eyeballing the text rules).
fn main() {
    for arg in std::env::args().skip(1) {
        println!(
            "{arg:?} -> {:?}",
            audiosubnet_tts::text::prepare(&arg, 1000)
        );
    }
}
