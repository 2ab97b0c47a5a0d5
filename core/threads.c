// One re-execution with the thread pools' environment (see threads.h).
#include "core/threads.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// The variables and the values AGIR wants when the user has not chosen.
static const char *const vars[][2] = {
    {"OMP_WAIT_POLICY", "passive"},
    {"OPENBLAS_THREAD_TIMEOUT", "4"},
};

// Set in the re-executed process's environment only, so that it cannot loop.
static const char GUARD[] = "AGIR_THREAD_ENV";

void agir_thread_env(char **argv) {
    const char *g = getenv(GUARD);
    if (g) {
        if (!strcmp(g, "1")) unsetenv(GUARD);  // the re-executed process: done ("keep" stays for children)
        return;
    }
    enum { N = sizeof vars / sizeof *vars };
    int added[N], missing = 0;
    for (size_t i = 0; i < N; i++) missing |= added[i] = getenv(vars[i][0]) == NULL;
    if (!missing || !argv || !argv[0]) return;
    for (size_t i = 0; i < N; i++)
        if (added[i]) setenv(vars[i][0], vars[i][1], 1);
    setenv(GUARD, "1", 1);
    execv("/proc/self/exe", argv);
    // Not re-executed (no /proc): go on with the defaults, and leave the environment as it was.
    for (size_t i = 0; i < N; i++)
        if (added[i]) unsetenv(vars[i][0]);
    unsetenv(GUARD);
}
