/* dist.h — one run on several processes (MPI ranks, `mpirun -np K vihost
 * run FILE` or Slurm's `srun`).  Built with ./configure --with-mpi.
 *
 * Every rank reads the run file and the data, and runs the same fit from
 * the same seed: the same draws, the same steps.  Rank r evaluates the
 * target only on its share of the data items (log_density_subset, the
 * prior on rank 0 alone), and the ranks add their log densities and
 * gradients with one MPI_Allreduce per gradient estimate, so every rank
 * holds the same sums and takes the same decisions.  Only rank 0 writes
 * files and prints.  A run file with a `sweep:` is split instead: each
 * rank runs its share of the grid, whole.
 *
 * Without MPI, or when the process was not started by an MPI launcher,
 * there is one rank and nothing is sent. */
#ifndef VH_DIST_H
#define VH_DIST_H

#include <stddef.h>
#include "errors.h"

typedef struct vh_dist vh_dist;

/* Joins the ranks when an MPI launcher started this process (its
 * environment says so) and vihost has MPI; *out is NULL for a lone
 * process.  Fails (exit 2) when a launcher started several copies of a
 * vihost built without MPI: they would all write the same outputs. */
int vh_dist_open(vh_dist **out, vh_err *err);
/* Leaves (MPI_Finalize).  NULL is a no-op. */
void vh_dist_close(vh_dist *dist);

/* This process's rank and the number of ranks (0 and 1 for NULL). */
int vh_dist_rank(const vh_dist *dist);
int vh_dist_size(const vh_dist *dist);
/* Ranks on this machine (for the default thread count); 1 for NULL. */
int vh_dist_local_size(const vh_dist *dist);

/* Replaces values[0..n) by their sums over the ranks (MPI_Allreduce);
 * nothing for NULL or one rank.  Fails (exit 4) when MPI does. */
int vh_dist_sum(const vh_dist *dist, double *values, size_t n, vh_err *err);
/* The largest of x over the ranks. */
double vh_dist_max(const vh_dist *dist, double x);
/* Ends every rank's process with `code` (MPI_Abort), after a failure that
 * the other ranks may not share (they could wait for it forever).  Returns
 * only for NULL or one rank. */
void vh_dist_abort(const vh_dist *dist, int code);

/* Waits for every rank. */
void vh_dist_barrier(const vh_dist *dist);

/* "mpi" when this vihost was built with MPI, else "none". */
const char *vh_dist_support(void);

#endif
