/* dist.c — MPI ranks (see dist.h). */
#include "dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build-config.h"

#ifdef VIHOST_MPI
#include <mpi.h>
#endif

struct vh_dist {
    int rank;
    int size;
    int local_size;
#ifdef VIHOST_MPI
    MPI_Comm comm;
#endif
};

/* The number of processes an MPI launcher says it started, from its
 * environment (Open MPI's mpirun, PMIx or PMI launchers such as srun);
 * 0 when none started this process. */
static long launcher_size(void)
{
    static const char *const sizes[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE",
                                        "MPI_LOCALNRANKS", NULL};
    for (size_t i = 0; sizes[i] != NULL; i++) {
        const char *v = getenv(sizes[i]);
        if (v != NULL && *v != '\0')
            return strtol(v, NULL, 10);
    }
    /* PMIx launchers need not export the size, only the rank. */
    if (getenv("PMIX_RANK") != NULL || getenv("PMI_RANK") != NULL)
        return 1;
    return 0;
}

const char *vh_dist_support(void)
{
#ifdef VIHOST_MPI
    return "mpi";
#else
    return "none";
#endif
}

int vh_dist_open(vh_dist **out, vh_err *err)
{
    *out = NULL;
    long launched = launcher_size();
#ifdef VIHOST_MPI
    if (launched <= 0)
        return 0;
    int provided = 0;
    /* Only the thread that called MPI_Init calls MPI: the workers compute. */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return vh_err_set(err, VH_EXIT_FAILURE, "MPI_Init failed");
    vh_dist *d = calloc(1, sizeof *d);
    if (d == NULL)
        return vh_err_set(err, VH_EXIT_FAILURE, "out of memory");
    d->comm = MPI_COMM_WORLD;
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->size);
    MPI_Comm local;
    d->local_size = 1;
    if (MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &local) ==
        MPI_SUCCESS) {
        MPI_Comm_size(local, &d->local_size);
        MPI_Comm_free(&local);
    }
    *out = d;
    return 0;
#else
    if (launched > 1)
        return vh_err_set(err, VH_EXIT_USAGE,
                          "an MPI launcher started %ld copies of vihost, but this vihost was "
                          "built without MPI, so each would run the whole job and write the "
                          "same outputs; rebuild with ./configure --with-mpi (apt-get install "
                          "libopenmpi-dev openmpi-bin) or run one process",
                          launched);
    return 0;
#endif
}

void vh_dist_close(vh_dist *dist)
{
    if (dist == NULL)
        return;
#ifdef VIHOST_MPI
    MPI_Finalize();
#endif
    free(dist);
}

int vh_dist_rank(const vh_dist *dist)
{
    return dist != NULL ? dist->rank : 0;
}

int vh_dist_size(const vh_dist *dist)
{
    return dist != NULL ? dist->size : 1;
}

int vh_dist_local_size(const vh_dist *dist)
{
    return dist != NULL && dist->local_size > 0 ? dist->local_size : 1;
}

int vh_dist_sum(const vh_dist *dist, double *values, size_t n, vh_err *err)
{
    if (dist == NULL || dist->size <= 1 || n == 0)
        return 0;
#ifdef VIHOST_MPI
    /* MPI counts are ints: large sums go in pieces. */
    const size_t piece = (size_t)1 << 28;
    for (size_t at = 0; at < n; at += piece) {
        int count = (int)(n - at < piece ? n - at : piece);
        if (MPI_Allreduce(MPI_IN_PLACE, values + at, count, MPI_DOUBLE, MPI_SUM, dist->comm) !=
            MPI_SUCCESS)
            return vh_err_set(err, VH_EXIT_NUMERIC, "MPI_Allreduce of %zu values failed on rank %d",
                              n, dist->rank);
    }
    return 0;
#else
    (void)values;
    return vh_err_set(err, VH_EXIT_FAILURE, "internal error: several ranks without MPI");
#endif
}

double vh_dist_max(const vh_dist *dist, double x)
{
#ifdef VIHOST_MPI
    if (dist != NULL && dist->size > 1)
        MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_MAX, dist->comm);
#else
    (void)dist;
#endif
    return x;
}

void vh_dist_abort(const vh_dist *dist, int code)
{
#ifdef VIHOST_MPI
    if (dist != NULL && dist->size > 1) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(dist->comm, code);
    }
#else
    (void)dist;
    (void)code;
#endif
}

void vh_dist_barrier(const vh_dist *dist)
{
#ifdef VIHOST_MPI
    if (dist != NULL && dist->size > 1)
        MPI_Barrier(dist->comm);
#else
    (void)dist;
#endif
}
