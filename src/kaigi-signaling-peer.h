/* kaigi-signaling-peer.h
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <libsoup/soup.h>

#include "kaigi-types.h"

G_BEGIN_DECLS

#define KAIGI_TYPE_SIGNALING_PEER (kaigi_signaling_peer_get_type ())

G_DECLARE_FINAL_TYPE (KaigiSignalingPeer, kaigi_signaling_peer, KAIGI, SIGNALING_PEER, GObject)

KaigiSignalingPeer *kaigi_signaling_peer_new   (KaigiServer             *server,
                                                SoupWebsocketConnection *connection,
                                                guint                    idle_timeout_s);
void                kaigi_signaling_peer_close (KaigiSignalingPeer      *self,
                                                gushort                  code,
                                                const char              *reason);
void                kaigi_signaling_peer_announce_shutdown (KaigiSignalingPeer *self,
                                                guint                    grace_s);

G_END_DECLS
