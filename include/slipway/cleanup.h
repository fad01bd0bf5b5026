/* Cleanup by scope (systemd, crun utils.h): variables declared with these attributes are
 * released when they go out of scope; TAKE_PTR / TAKE_FD hand ownership out. */
#ifndef SLIPWAY_CLEANUP_H
#define SLIPWAY_CLEANUP_H

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void sw_freep(void *p)
{
        free(*(void **) p);
}

static inline void sw_closep(int *fd)
{
        if (*fd >= 0) {
                int saved = errno;
                close(*fd);
                errno = saved;
        }
}

static inline void sw_fclosep(FILE **f)
{
        if (*f)
                fclose(*f);
}

static inline void sw_closedirp(DIR **d)
{
        if (*d)
                closedir(*d);
}

/* Free a NULL-terminated array of strings. */
static inline void sw_strvfreep(char ***v)
{
        if (*v) {
                for (char **p = *v; *p; p++)
                        free(*p);
                free(*v);
        }
}

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _cleanup_free_ _cleanup_(sw_freep)
#define _cleanup_close_ _cleanup_(sw_closep)
#define _cleanup_fclose_ _cleanup_(sw_fclosep)
#define _cleanup_closedir_ _cleanup_(sw_closedirp)
#define _cleanup_strv_ _cleanup_(sw_strvfreep)

/* JSON values released with json_decref. Not in slipway-init's builds (SLIPWAY_INIT): it is
 * linked statically without jansson. */
#ifndef SLIPWAY_INIT
#include <jansson.h>
static inline void sw_json_decrefp(json_t **j)
{
        if (*j)
                json_decref(*j);
}
#define _cleanup_json_ _cleanup_(sw_json_decrefp)
#endif

#define TAKE_PTR(p)                                                                                \
        ({                                                                                         \
                __typeof__(p) _taken = (p);                                                        \
                (p) = NULL;                                                                        \
                _taken;                                                                            \
        })

#define TAKE_FD(fd)                                                                                \
        ({                                                                                         \
                int _taken = (fd);                                                                 \
                (fd) = -1;                                                                         \
                _taken;                                                                            \
        })

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
