// The thread pools' behaviour, set before they start.
//
// Matrix products run on OpenBLAS's thread pool and element-wise loops on OpenMP's; the two take
// turns. By default libgomp's idle threads spin for a while before sleeping, and so do
// OpenBLAS's: on a machine where other processes also want the cores, the spinning threads of one
// pool take the cores from the working threads of the other and a job runs many times slower.
// OMP_WAIT_POLICY=passive and OPENBLAS_THREAD_TIMEOUT=4 make idle threads sleep at once, and cost
// nothing measurable on a quiet machine (BENCHMARKS.md, "Thread pools").
//
// Both libraries read these variables when they are loaded, before main() runs, so setting them
// inside the program is too late, and a constructor runs after theirs (libraries are initialised
// before the executable, and glibc resets the environment after even .preinit_array functions
// run). agir_thread_env() therefore re-executes the program once, with the variables the user has
// not set added to its environment; a value the user sets is kept.
#ifndef AGIR_THREADS_H
#define AGIR_THREADS_H

// Call first in main(). Returns when the environment is already right (then the one re-execution
// has happened, or the user set every variable, or AGIR_THREAD_ENV=keep asks for none), or when
// re-executing fails (then the program runs with the libraries' defaults).
void agir_thread_env(char **argv);

#endif
