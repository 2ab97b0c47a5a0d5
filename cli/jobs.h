// Job registry: which key tables a job's INI file is checked against.
// X(name, key table): the table is declared by the job's module; [run] keys are always added.
AGIR_JOB("synth", agir_synth_keys)
AGIR_JOB("vqvae", agir_vqvae_keys)
