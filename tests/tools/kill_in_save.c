// kill_in_save PID DIR MS: sends SIGKILL to PID as soon as a checkpoint is being written in the run
// folder DIR (a hidden ".ckpt-<step>.tmp.<pid>" folder appears: checkpoints/ckpt.h), or after MS
// milliseconds when none appears. Prints "save" or "timeout". The kill test uses it to land kills
// inside checkpoint writes, which a shell loop polls too slowly to hit.
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

static int saving(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d))) found = !strncmp(de->d_name, ".ckpt-", 6) && strstr(de->d_name, ".tmp.");
    closedir(d);
    return found;
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: kill_in_save PID DIR MS\n");
        return 2;
    }
    pid_t pid = (pid_t)atol(argv[1]);
    long ms = atol(argv[3]);
    struct timespec t0, now, nap = {0, 100000};  // 0.1 ms between looks
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (saving(argv[2])) {
            kill(pid, SIGKILL);
            puts("save");
            return 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000 >= ms) {
            kill(pid, SIGKILL);
            puts("timeout");
            return 0;
        }
        nanosleep(&nap, NULL);
    }
}
