/* kaigi-error.c
 *
 * SPDX-License-Identifier: GPL-3.0-or-later
 */

#include "kaigi-error.h"

G_DEFINE_QUARK (kaigi-protocol-error-quark, kaigi_protocol_error)
G_DEFINE_QUARK (kaigi-name-error-quark, kaigi_name_error)
G_DEFINE_QUARK (kaigi-config-error-quark, kaigi_config_error)
G_DEFINE_QUARK (kaigi-media-error-quark, kaigi_media_error)
