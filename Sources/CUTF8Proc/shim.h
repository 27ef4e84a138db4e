#ifndef TLLM_UTF8PROC_SHIM_H
#define TLLM_UTF8PROC_SHIM_H
#include <utf8proc.h>
#endif
