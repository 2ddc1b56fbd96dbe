/* kaigi-test-utils.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/**
 * KaigiTestWait:
 *
 * State of one KAIGI_TEST_WAIT_UNTIL() loop; private.
 */
typedef struct
{
  gint64 deadline;
  GSource *tick;
} KaigiTestWait;

void     kaigi_test_wait_begin     (KaigiTestWait *wait,
                                    guint          timeout_ms);
gboolean kaigi_test_wait_iterate   (KaigiTestWait *wait);
void     kaigi_test_wait_end       (KaigiTestWait *wait);

/**
 * KAIGI_TEST_WAIT_UNTIL_ELSE:
 * @cond: an expression, re-evaluated after every main-context iteration
 * @timeout_ms: how long to wait at most
 * @on_timeout: a statement run (after marking the test failed) on time-out
 *
 * Iterates the thread-default main context until @cond holds. It wakes at
 * least every 10 ms, so conditions changed by other threads are seen. Never
 * sleeps for a fixed time.
 */
#define KAIGI_TEST_WAIT_UNTIL_ELSE(cond, timeout_ms, on_timeout)                 \
  G_STMT_START {                                                                \
    KaigiTestWait kaigi_test_wait_;                                             \
    gboolean kaigi_test_wait_ok_ = TRUE;                                        \
    kaigi_test_wait_begin (&kaigi_test_wait_, (timeout_ms));                    \
    while (!(cond))                                                             \
      {                                                                         \
        if (!kaigi_test_wait_iterate (&kaigi_test_wait_))                       \
          {                                                                     \
            kaigi_test_wait_ok_ = (cond);                                       \
            break;                                                              \
          }                                                                     \
      }                                                                         \
    kaigi_test_wait_end (&kaigi_test_wait_);                                    \
    if (!kaigi_test_wait_ok_)                                                   \
      {                                                                         \
        g_test_fail_printf ("%s:%d: timed out after %u ms waiting for: %s",     \
                            __FILE__, __LINE__, (guint) (timeout_ms), #cond);  \
        on_timeout;                                                             \
      }                                                                         \
  } G_STMT_END

/**
 * KAIGI_TEST_WAIT_UNTIL:
 * @cond: an expression
 * @timeout_ms: how long to wait at most
 *
 * KAIGI_TEST_WAIT_UNTIL_ELSE() that returns from the calling (void) test
 * function on time-out, so the fixture's teardown still runs.
 */
#define KAIGI_TEST_WAIT_UNTIL(cond, timeout_ms) \
  KAIGI_TEST_WAIT_UNTIL_ELSE (cond, timeout_ms, return)

void      kaigi_test_iterate_pending  (void);

JsonNode *kaigi_test_http_get_json    (guint        port,
                                       const char  *path,
                                       guint       *status,
                                       GError     **error);

JsonNode *kaigi_test_http_request_json (guint       port,
                                       const char  *method,
                                       const char  *path,
                                       const char  *body,
                                       guint       *status,
                                       GError     **error);

GSubprocess *kaigi_test_spawn_server (const char * const  *extra,
                                      guint               *port,
                                      GError             **error);
GSubprocess *kaigi_test_spawn_server_full (GSubprocessLauncher *launcher,
                                           const char * const  *extra,
                                           guint               *port,
                                           GError             **error);
gboolean  kaigi_test_wait_process     (GSubprocess  *process,
                                       guint         timeout_ms);

void      kaigi_test_set_fatal_logs   (void);

gboolean  kaigi_test_colour_near      (guint32      a,
                                       guint32      b,
                                       guint        tolerance);

G_END_DECLS
