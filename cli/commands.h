// The subcommands of `agir`: X(identifier, "name", "usage", "summary").
// Each is implemented as `int agir_cmd_<identifier>(int argc, char **argv, agir_err *e)`.
AGIR_COMMAND(config, "config", "--explain FILE [--set section.key=value ...]", "explain every key of a job's configuration")
AGIR_COMMAND(import, "import", "bmclab ROOT --meta META.csv --out OUT.h5 [--annotations JSON] [--fps F] [--up auto|y|z] | annotations JSON (DATA.h5 --out OUT.h5 | --check) | c3d FILE.c3d", "import BMCLab C3D walks or AGIR rationales; summarise a C3D file")
AGIR_COMMAND(synth, "synth", "CONFIG [--set section.key=value ...]", "generate the synthetic Parkinsonian gait dataset")
AGIR_COMMAND(info, "info", "DATA.h5|TOKENS.h5 [--json]", "summarise a gait dataset or a token store (validates it fully)")
AGIR_COMMAND(plot, "plot", "skeleton DATA.h5 --seq ID [--frames N] [--out F.png] | features DATA.h5 [--out F.png]", "draw gait pictures (skeleton contact sheet, feature distributions) as PNG")
AGIR_COMMAND(features, "features", "DATA.h5 [--csv OUT.csv] [--jsonl OUT.jsonl] [--out DIR] [--skip-invalid] [--quiet]", "clinical gait parameters of every walk (CSV, JSONL) and a per-score summary")
AGIR_COMMAND(describe, "describe", "DATA.h5 (--out OUT.h5 | --print N) [--seed N] [--overwrite-text] [--skip-invalid] [--quiet]", "write each walk's description and rationale from its measured gait features")
AGIR_COMMAND(inspect, "inspect", "FILE.safetensors", "validate a safetensors file and list its metadata and tensors (name, dtype, shape, bytes)")
AGIR_COMMAND(gguf_info, "gguf-info", "FILE.gguf [--quiet]", "validate a GGUF model file (every tensor read) and list its metadata and tensors")
AGIR_COMMAND(tokenizer, "tokenizer", "FILE.json|FILE.gguf [--encode TEXT | --encode-file F | --decode IDS | --bench F] [--motion K] [--skip-special]", "load a text tokenizer (HF tokenizer.json or GGUF metadata); encode, decode, or measure tokens/s")
