#ifndef TLLM_CBLAS_SHIM_H
#define TLLM_CBLAS_SHIM_H
#include <cblas.h>

/* OpenBLAS (DYNAMIC_ARCH builds) selects its kernel family once, in a library
   constructor, from the CPU id or the OPENBLAS_CORETYPE environment variable.
   These two exported entry points let tllm redo that selection in-process when
   the library fell back to a generic core on a CPU it does not recognise. */
void gotoblas_dynamic_init(void);
void gotoblas_dynamic_quit(void);
#endif
