/* kaigi-test-utils.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include <libsoup/soup.h>

#include <string.h>

#include "kaigi-test-utils.h"

#define TICK_MS 10
#define HTTP_TIMEOUT_MS 10000

static gboolean
on_tick (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/**
 * kaigi_test_wait_begin:
 * @wait: uninitialised wait state
 * @timeout_ms: time-out
 *
 * Starts a wait on the thread-default main context. Use
 * KAIGI_TEST_WAIT_UNTIL() rather than calling this directly.
 */
void
kaigi_test_wait_begin (KaigiTestWait *wait,
                       guint          timeout_ms)
{
  g_return_if_fail (wait != NULL);

  wait->deadline = g_get_monotonic_time () + (gint64) timeout_ms * G_TIME_SPAN_MILLISECOND;
  /* Conditions set from streaming threads do not wake the main context;
   * a short tick makes sure they are re-evaluated. */
  wait->tick = g_timeout_source_new (TICK_MS);
  g_source_set_callback (wait->tick, on_tick, NULL, NULL);
  g_source_set_static_name (wait->tick, "[kaigi-test] wait tick");
  g_source_attach (wait->tick, g_main_context_get_thread_default ());
}

/**
 * kaigi_test_wait_iterate:
 * @wait: a wait state
 *
 * Runs one (blocking, at most ~10 ms) main-context iteration.
 *
 * Returns: %FALSE once the deadline has passed
 */
gboolean
kaigi_test_wait_iterate (KaigiTestWait *wait)
{
  g_return_val_if_fail (wait != NULL, FALSE);

  if (g_get_monotonic_time () > wait->deadline)
    return FALSE;
  g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
  return TRUE;
}

/**
 * kaigi_test_wait_end:
 * @wait: a wait state
 *
 * Frees what kaigi_test_wait_begin() set up.
 */
void
kaigi_test_wait_end (KaigiTestWait *wait)
{
  g_return_if_fail (wait != NULL);

  if (wait->tick != NULL)
    {
      g_source_destroy (wait->tick);
      g_clear_pointer (&wait->tick, g_source_unref);
    }
}

/**
 * kaigi_test_iterate_pending:
 *
 * Dispatches everything that is ready on the thread-default main context,
 * without blocking.
 */
void
kaigi_test_iterate_pending (void)
{
  GMainContext *context = g_main_context_get_thread_default ();

  while (g_main_context_iteration (context, FALSE))
    ;
}

typedef struct
{
  gboolean done;
  GBytes *body;
  GError *error;
} HttpResult;

static void
on_http_done (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  HttpResult *r = user_data;

  r->body = soup_session_send_and_read_finish (SOUP_SESSION (source), result, &r->error);
  r->done = TRUE;
}

/**
 * kaigi_test_http_get_json:
 * @port: the server's port on 127.0.0.1
 * @path: the request path, already percent-encoded
 * @status: (out) (optional): the HTTP status
 * @error: return location for an error
 *
 * GETs http://127.0.0.1:PORT/PATH; see kaigi_test_http_request_json().
 *
 * Returns: (transfer full) (nullable): the body's JSON
 */
JsonNode *
kaigi_test_http_get_json (guint        port,
                          const char  *path,
                          guint       *status,
                          GError     **error)
{
  return kaigi_test_http_request_json (port, "GET", path, NULL, status, error);
}

/**
 * kaigi_test_http_request_json:
 * @port: the server's port on 127.0.0.1
 * @method: the HTTP method
 * @path: the request path, already percent-encoded
 * @body: (nullable): a JSON request body
 * @status: (out) (optional): the HTTP status
 * @error: return location for an error
 *
 * Sends the request to http://127.0.0.1:PORT/PATH while iterating the
 * thread-default main context (the server may run on it), and parses the
 * response body as JSON.
 *
 * Returns: (transfer full) (nullable): the body's JSON, or %NULL with @error
 *   set if the request failed or the body is not JSON (@status is still set)
 */
JsonNode *
kaigi_test_http_request_json (guint        port,
                              const char  *method,
                              const char  *path,
                              const char  *body,
                              guint       *status,
                              GError     **error)
{
  g_autoptr(SoupSession) session = soup_session_new_with_options ("proxy-resolver", NULL, NULL);
  g_autoptr(SoupMessage) msg = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree char *uri = NULL;
  HttpResult r = { FALSE, NULL, NULL };
  KaigiTestWait wait;
  JsonNode *ret = NULL;
  gsize len = 0;
  const char *data;

  g_return_val_if_fail (path != NULL && path[0] == '/', NULL);

  if (status != NULL)
    *status = 0;

  uri = g_strdup_printf ("http://127.0.0.1:%u%s", port, path);
  msg = soup_message_new (method, uri);
  if (msg == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad URI %s", uri);
      return NULL;
    }
  if (body != NULL)
    {
      g_autoptr(GBytes) bytes = g_bytes_new (body, strlen (body));

      soup_message_set_request_body_from_bytes (msg, "application/json", bytes);
    }

  soup_session_send_and_read_async (session, msg, G_PRIORITY_DEFAULT, cancellable,
                                    on_http_done, &r);
  kaigi_test_wait_begin (&wait, HTTP_TIMEOUT_MS);
  while (!r.done)
    {
      if (!kaigi_test_wait_iterate (&wait))
        {
          /* Cancelling completes the request soon; the tick keeps waking us. */
          g_cancellable_cancel (cancellable);
          g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
        }
    }
  kaigi_test_wait_end (&wait);

  if (status != NULL)
    *status = soup_message_get_status (msg);

  if (r.error != NULL)
    {
      g_propagate_error (error, r.error);
      return NULL;
    }

  data = g_bytes_get_data (r.body, &len);
  if (json_parser_load_from_data (parser, data ? data : "", (gssize) len, error))
    ret = json_node_ref (json_parser_get_root (parser));
  g_bytes_unref (r.body);
  return ret;
}

/**
 * kaigi_test_colour_near:
 * @a: a colour, 0xRRGGBB
 * @b: a colour, 0xRRGGBB
 * @tolerance: largest allowed difference per channel
 *
 * Returns: whether every channel of @a and @b differs by at most @tolerance
 */
gboolean
kaigi_test_colour_near (guint32 a,
                        guint32 b,
                        guint   tolerance)
{
  for (int shift = 0; shift <= 16; shift += 8)
    {
      int ca = (int) ((a >> shift) & 0xFF);
      int cb = (int) ((b >> shift) & 0xFF);

      if ((guint) ABS (ca - cb) > tolerance)
        return FALSE;
    }
  return TRUE;
}
