//go:build !purego

#include "textflag.h"

// func dotsAVX2(dst *int32, w *int8, rows, cols int, q *int16)
// dst[r] = sum over k < cols&^15 of w[r*cols+k] * q[k], for r < rows: w
// widened to int16 (VPMOVSXBW), multiplied and added in pairs to int32
// (VPMADDWD), exact.
TEXT ·dotsAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ rows+16(FP), CX
	MOVQ cols+24(FP), R8
	MOVQ q+32(FP), DX
	MOVQ R8, R9
	ANDQ $-16, R9 // k main
	MOVQ R8, R10
	ANDQ $-32, R10 // k main, two at a time

rows:
	TESTQ CX, CX
	JZ    done
	VPXOR Y0, Y0, Y0
	VPXOR Y1, Y1, Y1
	XORQ  AX, AX

k32:
	CMPQ      AX, R10
	JGE       k16
	VPMOVSXBW (SI)(AX*1), Y2
	VPMOVSXBW 16(SI)(AX*1), Y3
	VPMADDWD  (DX)(AX*2), Y2, Y2
	VPMADDWD  32(DX)(AX*2), Y3, Y3
	VPADDD    Y2, Y0, Y0
	VPADDD    Y3, Y1, Y1
	ADDQ      $32, AX
	JMP       k32

k16:
	CMPQ      AX, R9
	JGE       sum
	VPMOVSXBW (SI)(AX*1), Y2
	VPMADDWD  (DX)(AX*2), Y2, Y2
	VPADDD    Y2, Y0, Y0

sum:
	VPADDD       Y1, Y0, Y0
	VEXTRACTI128 $1, Y0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0x4e, X0, X1
	VPADDD       X1, X0, X0
	VPSHUFD      $0xb1, X0, X1
	VPADDD       X1, X0, X0
	VMOVD        X0, (DI)
	ADDQ         $4, DI
	ADDQ         R8, SI
	DECQ         CX
	JMP          rows

done:
	VZEROUPPER
	RET
