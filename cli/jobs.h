// Job registry: which key tables a job's INI file is checked against.
// X(name, command that runs it, key table): the table is declared by the job's module; [run] keys
// are always added.
AGIR_JOB("synth", "synth", agir_synth_keys)
AGIR_JOB("vqvae", "train", agir_vqvae_keys)
AGIR_JOB("sft", "train", agir_sft_keys)
