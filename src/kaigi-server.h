/* kaigi-server.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <glib-object.h>

#include "kaigi-types.h"

G_BEGIN_DECLS

#define KAIGI_TYPE_SERVER (kaigi_server_get_type ())

G_DECLARE_FINAL_TYPE (KaigiServer, kaigi_server, KAIGI, SERVER, GObject)

KaigiServer *kaigi_server_new      (const KaigiConfig  *config);
gboolean     kaigi_server_start    (KaigiServer        *self,
                                    GError            **error);
guint        kaigi_server_get_port (KaigiServer        *self);
guint        kaigi_server_get_n_connections (KaigiServer *self,
                                             guint64     *total);
void         kaigi_server_announce_shutdown (KaigiServer *self);
void         kaigi_server_stop     (KaigiServer        *self);
gboolean     kaigi_server_is_idle  (KaigiServer        *self);
guint        kaigi_server_get_n_recordings (KaigiServer *self);

G_END_DECLS
