/* Helpers shared by the Check unit tests. */
#ifndef TRISA_TESTUTIL_H
#define TRISA_TESTUTIL_H

#include <stddef.h>
#include <sys/types.h>

/* A fresh private temporary folder for one test (removed by tu_rmtree). */
char *tu_tmpdir(void);
/* Remove a folder and everything under it. */
void tu_rmtree(const char *path);
/* Write a file (mode 0644) with these bytes; aborts the test on failure. */
void tu_write(const char *path, const char *text);
/* Join folder and name into a new string (caller frees). */
char *tu_path(const char *dir, const char *name);
/* The file's permission bits, or -1 when it does not exist. */
int tu_mode(const char *path);
/* Run a suite and free it; returns the number of failed tests. */
int tu_run(void *suite);
/* The shared/ folder beside the project, or NULL when absent. */
const char *tu_shared_dir(void);

#endif
