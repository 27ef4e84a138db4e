#ifndef TLLM_CBLAS_SHIM_H
#define TLLM_CBLAS_SHIM_H
#include <cblas.h>

/* OpenBLAS (DYNAMIC_ARCH builds) selects its kernel family once, in a library
   constructor, from the CPU id or the OPENBLAS_CORETYPE environment variable.
   These two exported entry points let tllm redo that selection in-process when
   the library fell back to a generic core on a CPU it does not recognise. */
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);

/* The thread pool: its idle workers spin (sched_yield) for 2^OPENBLAS_THREAD_TIMEOUT
   cycles after each call, which on a 2-core machine steals the cores from tllm's own
   elementwise kernels. These let tllm restart the pool with a short timeout. */
void openblas_read_env(void);
int blas_thread_init(void);
int blas_thread_shutdown_(void);

/* LAPACK routines the same library exports (Fortran calling convention: everything by pointer,
   column-major). Used by tllm's dictionary learning: a symmetric eigendecomposition for the SVD
   initialisation, and Cholesky solves for OMP and the semi-coupled map; general eigenvalues for the
   copying score of attention heads. */
void ssyevd_(const char *jobz, const char *uplo, const int *n, float *a, const int *lda, float *w,
             float *work, const int *lwork, int *iwork, const int *liwork, int *info);
void sgeev_(const char *jobvl, const char *jobvr, const int *n, float *a, const int *lda, float *wr, float *wi,
            float *vl, const int *ldvl, float *vr, const int *ldvr, float *work, const int *lwork, int *info);
void sposv_(const char *uplo, const int *n, const int *nrhs, float *a, const int *lda, float *b,
            const int *ldb, int *info);
#endif
