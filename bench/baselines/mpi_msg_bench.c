/* Open MPI reference timings of point-to-point and personalised messages, the companion of
 * ../shared/baselines/mpi_coll_bench.c, measured the same way (8 batches, the first discarded, median of
 * the other 7, max over ranks).
 *   usage: mpirun -n R ./mpi_msg_bench pingpong|alltoall bytes...
 *   pingpong (R = 2, osu_latency's loop): rank 0 MPI_Send then MPI_Recv, rank 1 MPI_Recv then MPI_Send;
 *     one operation is the whole round trip (osu_latency prints half of it).
 *   alltoall (osu_alltoall): MPI_Alltoall of `bytes` per pair (each rank sends R x bytes).
 * Prints one line per size: op bytes median_us. Built and run by bench/runners/mpi.ts. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCHES 8
#define PINGPONG_TAG 1

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* As mpi_coll_bench.c: many operations per batch for small messages, few for large ones. */
static int iterations_for(size_t bytes) { return bytes <= 4096 ? 2000 : (bytes <= 262144 ? 200 : 20); }

static void operation(int pingpong, char *s, char *r, size_t bytes, int rank) {
  if (pingpong) {
    if (rank == 0) {
      MPI_Send(s, (int)bytes, MPI_BYTE, 1, PINGPONG_TAG, MPI_COMM_WORLD);
      MPI_Recv(r, (int)bytes, MPI_BYTE, 1, PINGPONG_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    } else if (rank == 1) {
      MPI_Recv(r, (int)bytes, MPI_BYTE, 0, PINGPONG_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      MPI_Send(r, (int)bytes, MPI_BYTE, 0, PINGPONG_TAG, MPI_COMM_WORLD);
    }
  } else {
    MPI_Alltoall(s, (int)bytes, MPI_BYTE, r, (int)bytes, MPI_BYTE, MPI_COMM_WORLD);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  if (argc < 3 || (strcmp(argv[1], "pingpong") && strcmp(argv[1], "alltoall"))) {
    if (rank == 0) fprintf(stderr, "usage: mpi_msg_bench pingpong|alltoall bytes...\n");
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  int pingpong = !strcmp(argv[1], "pingpong");
  if (pingpong && size != 2) {
    if (rank == 0) fprintf(stderr, "mpi_msg_bench: pingpong runs on 2 ranks, not %d\n", size);
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  size_t largest = 0;
  for (int a = 2; a < argc; a++) {
    size_t b = (size_t)atol(argv[a]);
    if (b > largest) largest = b;
  }
  size_t buffer = pingpong ? largest : largest * (size_t)size;
  char *s = malloc(buffer > 0 ? buffer : 1), *r = malloc(buffer > 0 ? buffer : 1);
  memset(s, rank + 1, buffer);
  memset(r, 0, buffer);
  if (rank == 0) printf("# ranks=%d\n", size);
  for (int a = 2; a < argc; a++) {
    size_t bytes = (size_t)atol(argv[a]);
    int iters = iterations_for(pingpong ? bytes : bytes * (size_t)size);
    double t[BATCHES - 1];
    for (int b = 0; b < BATCHES; b++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      for (int i = 0; i < iters; i++) operation(pingpong, s, r, bytes, rank);
      double dt = (MPI_Wtime() - t0) / iters * 1e6;
      double mx;
      MPI_Allreduce(&dt, &mx, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
      if (b > 0) t[b - 1] = mx;
    }
    qsort(t, BATCHES - 1, sizeof(double), cmp);
    if (rank == 0) printf("%s %zu %.2f\n", argv[1], bytes, t[(BATCHES - 1) / 2]);
  }
  free(s);
  free(r);
  MPI_Finalize();
  return 0;
}
