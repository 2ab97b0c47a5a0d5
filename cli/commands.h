// The subcommands of `agir`: X(identifier, "name", "usage", "summary").
// Each is implemented as `int agir_cmd_<identifier>(int argc, char **argv, agir_err *e)`.
AGIR_COMMAND(config, "config", "--explain FILE [--set section.key=value ...]", "explain every key of a job's configuration")
