/**
 * @file trisa/trisa.h
 * @brief Everything: includes each module's public header.
 */
#ifndef TRISA_TRISA_H
#define TRISA_TRISA_H

#include "trisa/common.h"
#include "trisa/keygen.h"
#include "trisa/csr.h"
#include "trisa/hsm.h"
#include "trisa/bundle.h"
#include "trisa/sectigo.h"
#include "trisa/enroll.h"
#include "trisa/lineage.h"

#endif
