/* A one-process stand-in for Open MPI's libmpi.so.40, used only to check llm.net's MPI bindings on
 * machines without MPI: handles are addresses of exported globals as in Open MPI, and every call checks
 * that it received them (the last argument of MPI_Allgather travels on the stack). */
#include <string.h>

struct ompi_predefined { int tag; };
struct ompi_predefined ompi_mpi_comm_world = { 1 };
struct ompi_predefined ompi_mpi_byte = { 2 };

static int initialized, finalized, thread_level = -1;

int MPI_Initialized(int *flag) { *flag = initialized; return 0; }
int MPI_Init_thread(int *argc, char ***argv, int required, int *provided) {
    if (argc || argv || initialized) return 1;
    initialized = 1; thread_level = required; *provided = required;
    return 0;
}
int MPI_Finalized(int *flag) { *flag = finalized; return 0; }
int MPI_Finalize(void) { finalized = 1; return 0; }
int MPI_Comm_rank(void *comm, int *rank) { if (comm != &ompi_mpi_comm_world) return 5; *rank = 0; return 0; }
int MPI_Comm_size(void *comm, int *size) { if (comm != &ompi_mpi_comm_world) return 5; *size = 1; return 0; }
int MPI_Bcast(void *buffer, int count, void *type, int root, void *comm) {
    (void)buffer;
    if (comm != &ompi_mpi_comm_world || type != &ompi_mpi_byte) return 5;
    return root == 0 && count == 128 ? 0 : 13;
}
int MPI_Allgather(const void *send, int sendcount, void *sendtype, void *recv, int recvcount, void *recvtype, void *comm) {
    if (comm != &ompi_mpi_comm_world || sendtype != &ompi_mpi_byte || recvtype != &ompi_mpi_byte) return 5;
    if (sendcount != 8 || recvcount != 8) return 13;
    memcpy(recv, send, 8);
    return 0;
}

int fakeThreadLevel(void) { return thread_level; }
int fakeFinalized(void) { return finalized; }
