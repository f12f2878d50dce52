/* Replays a fuzz target's corpus without libFuzzer, as TAP: one test per
 * file in t/fuzz/corpus/<name>/ (run from the distribution's top
 * directory). Built once per target; t/00-core.t runs it. */
#include "tap.h"
#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifndef FUZZ_NAME
#error FUZZ_NAME must name the corpus
#endif

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "t/fuzz/corpus/" FUZZ_NAME;
  DIR *d = opendir(dir);
  struct dirent *e;
  char *names[4096];
  size_t n = 0, i;
  ok(d != NULL, "corpus directory %s", dir);
  if (d == NULL)
    return done_testing();
  while ((e = readdir(d)) != NULL && n < 4096)
    if (e->d_name[0] != '.')
      names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  ok(n > 0, "corpus has %zu inputs", n);
  for (i = 0; i < n; i++) {
    char path[1024];
    FILE *f;
    uint8_t *buf;
    long size;
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    f = fopen(path, "rb");
    if (f == NULL) {
      ok(0, "open %s", path);
      continue;
    }
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(size ? (size_t)size : 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
      size = 0;
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)size); /* a failure aborts: the harness reports it */
    ok(1, "%s", names[i]);
    free(buf);
    free(names[i]);
  }
  return done_testing();
}
