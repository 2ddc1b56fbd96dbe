/* kaigi-nack-requester.h — what an SFU puts where a jitterbuffer would be
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * KAIGI_NACK_REQUESTER_WINDOW:
 *
 * How many recent sequence numbers (packets) of its SSRC a
 * #KaigiNackRequester remembers: it drops duplicates, and packets older
 * than this behind the newest, so whatever it passes on is less than this
 * many packets behind the newest it passed.
 */
#define KAIGI_NACK_REQUESTER_WINDOW 1024

#define KAIGI_TYPE_NACK_REQUESTER (kaigi_nack_requester_get_type ())

G_DECLARE_FINAL_TYPE (KaigiNackRequester, kaigi_nack_requester, KAIGI, NACK_REQUESTER, GstElement)

GstElement *kaigi_nack_requester_new (void);

G_END_DECLS
